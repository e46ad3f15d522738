//! One way to wrap a backend: [`delegate_through_around!`] implements every backend trait for a
//! wrapper by passing each call, named `service:Operation`, through the wrapper's own
//! `around(op, call)` to the backend in its `inner` field. [`CountingAws`](super::CountingAws)
//! records the call there; [`FaultyAws`](crate::memory::FaultyAws) may fail it instead. A new trait
//! method is added here once, not once per wrapper.

/// Implements the backend traits for `$wrapper`, which has an `inner` backend and an inherent
/// `async fn around<T>(&self, op: &'static str, call: impl Future<Output = AwsResult<T>>) ->
/// AwsResult<T>`. The call future is lazy: `around` decides whether it runs at all.
macro_rules! delegate_through_around {
    ($wrapper:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::Ec2Api for $wrapper {
            async fn describe_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<Option<Image>> {
                self.around("ec2:DescribeImages", self.inner.describe_image(region, image_id)).await
            }

            async fn create_image(&self, region: &Region, request: &CreateImage) -> AwsResult<ImageId> {
                self.around("ec2:CreateImage", self.inner.create_image(region, request)).await
            }

            async fn describe_launch_template(
                &self,
                region: &Region,
                template: &LaunchTemplateRef,
            ) -> AwsResult<Option<LaunchTemplate>> {
                self.around("ec2:DescribeLaunchTemplates", self.inner.describe_launch_template(region, template)).await
            }

            async fn describe_launch_template_versions(
                &self,
                region: &Region,
                template_id: &str,
            ) -> AwsResult<Vec<LaunchTemplateVersion>> {
                self.around(
                    "ec2:DescribeLaunchTemplateVersions",
                    self.inner.describe_launch_template_versions(region, template_id),
                )
                .await
            }

            async fn create_launch_template_version(
                &self,
                region: &Region,
                request: &$crate::model::CreateLaunchTemplateVersion,
            ) -> AwsResult<i64> {
                self.around(
                    "ec2:CreateLaunchTemplateVersion",
                    self.inner.create_launch_template_version(region, request),
                )
                .await
            }

            async fn set_default_launch_template_version(
                &self,
                region: &Region,
                template_id: &str,
                version: i64,
            ) -> AwsResult<i64> {
                self.around(
                    "ec2:ModifyLaunchTemplate",
                    self.inner.set_default_launch_template_version(region, template_id, version),
                )
                .await
            }

            async fn delete_launch_template_versions(
                &self,
                region: &Region,
                template_id: &str,
                versions: &[i64],
            ) -> AwsResult<Vec<(i64, String)>> {
                self.around(
                    "ec2:DeleteLaunchTemplateVersions",
                    self.inner.delete_launch_template_versions(region, template_id, versions),
                )
                .await
            }

            async fn describe_own_images(&self, region: &Region) -> AwsResult<Vec<Image>> {
                self.around("ec2:DescribeImages", self.inner.describe_own_images(region)).await
            }

            async fn describe_own_snapshots(&self, region: &Region) -> AwsResult<Vec<Snapshot>> {
                self.around("ec2:DescribeSnapshots", self.inner.describe_own_snapshots(region)).await
            }

            async fn describe_snapshots_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Snapshot>> {
                self.around("ec2:DescribeSnapshots", self.inner.describe_snapshots_tagged(region, tag_key)).await
            }

            async fn describe_volumes_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Volume>> {
                self.around("ec2:DescribeVolumes", self.inner.describe_volumes_tagged(region, tag_key)).await
            }

            async fn describe_instances(&self, region: &Region) -> AwsResult<Vec<Instance>> {
                self.around("ec2:DescribeInstances", self.inner.describe_instances(region)).await
            }

            async fn describe_launch_templates(&self, region: &Region) -> AwsResult<Vec<LaunchTemplate>> {
                self.around("ec2:DescribeLaunchTemplates", self.inner.describe_launch_templates(region)).await
            }

            async fn deregister_image(
                &self,
                region: &Region,
                image_id: &ImageId,
                delete_snapshots: bool,
            ) -> AwsResult<Vec<String>> {
                self.around("ec2:DeregisterImage", self.inner.deregister_image(region, image_id, delete_snapshots))
                    .await
            }

            async fn delete_snapshot(&self, region: &Region, snapshot_id: &str) -> AwsResult<()> {
                self.around("ec2:DeleteSnapshot", self.inner.delete_snapshot(region, snapshot_id)).await
            }

            async fn enable_image_deprecation(
                &self,
                region: &Region,
                image_id: &ImageId,
                at: OffsetDateTime,
            ) -> AwsResult<()> {
                self.around("ec2:EnableImageDeprecation", self.inner.enable_image_deprecation(region, image_id, at))
                    .await
            }

            async fn disable_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<()> {
                self.around("ec2:DisableImage", self.inner.disable_image(region, image_id)).await
            }

            async fn copy_image(&self, region: &Region, request: &CopyImage) -> AwsResult<ImageId> {
                self.around("ec2:CopyImage", self.inner.copy_image(region, request)).await
            }

            async fn share_image(&self, region: &Region, image_id: &ImageId, account: &AccountId) -> AwsResult<()> {
                self.around("ec2:ModifyImageAttribute", self.inner.share_image(region, image_id, account)).await
            }

            async fn share_snapshot(&self, region: &Region, snapshot_id: &str, account: &AccountId) -> AwsResult<()> {
                self.around("ec2:ModifySnapshotAttribute", self.inner.share_snapshot(region, snapshot_id, account))
                    .await
            }

            async fn describe_images_tagged(&self, region: &Region, key: &str, value: &str) -> AwsResult<Vec<Image>> {
                self.around("ec2:DescribeImages", self.inner.describe_images_tagged(region, key, value)).await
            }

            async fn describe_image_references(
                &self,
                region: &Region,
                image_ids: &[ImageId],
            ) -> AwsResult<Vec<ImageReference>> {
                self.around("ec2:DescribeImageReferences", self.inner.describe_image_references(region, image_ids))
                    .await
            }

            async fn set_deregistration_protection(
                &self,
                region: &Region,
                image_id: &ImageId,
                enabled: bool,
            ) -> AwsResult<()> {
                self.around(
                    if enabled {
                        "ec2:EnableImageDeregistrationProtection"
                    } else {
                        "ec2:DisableImageDeregistrationProtection"
                    },
                    self.inner.set_deregistration_protection(region, image_id, enabled),
                )
                .await
            }

            async fn create_tags(&self, region: &Region, resource_ids: &[String], tags: &Tags) -> AwsResult<()> {
                self.around("ec2:CreateTags", self.inner.create_tags(region, resource_ids, tags)).await
            }

            async fn get_allowed_images_settings(
                &self,
                region: &Region,
            ) -> AwsResult<$crate::model::AllowedImagesSettings> {
                self.around("ec2:GetAllowedImagesSettings", self.inner.get_allowed_images_settings(region)).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::SsmApi for $wrapper {
            async fn get_parameter(&self, region: &Region, name: &str) -> AwsResult<Option<Parameter>> {
                self.around("ssm:GetParameter", self.inner.get_parameter(region, name)).await
            }

            async fn put_parameter(&self, region: &Region, request: &PutParameter) -> AwsResult<i64> {
                self.around("ssm:PutParameter", self.inner.put_parameter(region, request)).await
            }

            async fn delete_parameter(&self, region: &Region, name: &str) -> AwsResult<()> {
                self.around("ssm:DeleteParameter", self.inner.delete_parameter(region, name)).await
            }

            async fn get_parameters_by_path(&self, region: &Region, path: &str) -> AwsResult<Vec<Parameter>> {
                self.around("ssm:GetParametersByPath", self.inner.get_parameters_by_path(region, path)).await
            }

            async fn get_parameter_history(&self, region: &Region, name: &str) -> AwsResult<Vec<(i64, String)>> {
                self.around("ssm:GetParameterHistory", self.inner.get_parameter_history(region, name)).await
            }

            async fn describe_parameter_names(&self, region: &Region) -> AwsResult<Vec<String>> {
                self.around("ssm:DescribeParameters", self.inner.describe_parameter_names(region)).await
            }

            async fn get_parameters(&self, region: &Region, names: &[String]) -> AwsResult<Vec<Parameter>> {
                self.around("ssm:GetParameters", self.inner.get_parameters(region, names)).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::ImageBuilderApi for $wrapper {
            async fn list_recipe_images(&self, region: &Region) -> AwsResult<Vec<$crate::model::RecipeImage>> {
                self.around("imagebuilder:ListImageRecipes", self.inner.list_recipe_images(region)).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::AutoScalingApi for $wrapper {
            async fn describe_auto_scaling_group(
                &self,
                region: &Region,
                name: &str,
            ) -> AwsResult<Option<AutoScalingGroup>> {
                self.around(
                    "autoscaling:DescribeAutoScalingGroups",
                    self.inner.describe_auto_scaling_group(region, name),
                )
                .await
            }

            async fn describe_auto_scaling_groups(&self, region: &Region) -> AwsResult<Vec<AutoScalingGroup>> {
                self.around("autoscaling:DescribeAutoScalingGroups", self.inner.describe_auto_scaling_groups(region))
                    .await
            }

            async fn describe_launch_configurations(&self, region: &Region) -> AwsResult<Vec<LaunchConfiguration>> {
                self.around(
                    "autoscaling:DescribeLaunchConfigurations",
                    self.inner.describe_launch_configurations(region),
                )
                .await
            }

            async fn set_launch_template(
                &self,
                region: &Region,
                group: &AutoScalingGroup,
                template: &LaunchTemplateSpec,
            ) -> AwsResult<()> {
                self.around(
                    "autoscaling:UpdateAutoScalingGroup",
                    self.inner.set_launch_template(region, group, template),
                )
                .await
            }

            async fn start_instance_refresh(
                &self,
                region: &Region,
                group: &str,
                preferences: &InstanceRefreshPreferences,
            ) -> AwsResult<String> {
                self.around(
                    "autoscaling:StartInstanceRefresh",
                    self.inner.start_instance_refresh(region, group, preferences),
                )
                .await
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::CloudFormationApi for $wrapper {
            async fn describe_stack(&self, region: &Region, name: &str) -> AwsResult<Option<Stack>> {
                self.around("cloudformation:DescribeStacks", self.inner.describe_stack(region, name)).await
            }

            async fn update_stack(&self, region: &Region, request: &UpdateStack) -> AwsResult<StackUpdate> {
                self.around("cloudformation:UpdateStack", self.inner.update_stack(region, request)).await
            }

            async fn describe_stacks(&self, region: &Region) -> AwsResult<Vec<Stack>> {
                self.around("cloudformation:DescribeStacks", self.inner.describe_stacks(region)).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::RecycleBinApi for $wrapper {
            async fn list_recycle_bin_rules(
                &self,
                region: &Region,
                resource_type: RecycleBinResource,
            ) -> AwsResult<Vec<RecycleBinRule>> {
                self.around("rbin:ListRules", self.inner.list_recycle_bin_rules(region, resource_type)).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::backend::StsApi for $wrapper {
            async fn assume_role(&self, role_arn: &str, external_id: Option<&str>) -> AwsResult<Arc<dyn Aws>> {
                self.around("sts:AssumeRole", self.inner.assume_role(role_arn, external_id)).await
            }
        }
    };
}

pub(crate) use delegate_through_around;
